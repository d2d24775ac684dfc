import Storage

/// A failure of the bench: its history database, reports and baselines (the storage layer's error,
/// so one type carries both).
public typealias HistoryError = StorageError

// The system SQLite (Debian: libsqlite3-dev), for the benchmark history store.
#include <sqlite3.h>

// SQLITE_TRANSIENT is a cast macro Swift cannot import: bound text and blobs are copied.
static inline void (*recur_sqlite_transient(void))(void *) { return SQLITE_TRANSIENT; }

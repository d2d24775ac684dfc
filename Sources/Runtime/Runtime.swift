// Module marker.

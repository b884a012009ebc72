"""Everything about Redis: settings, keys, connections, queue classes, job records, events."""

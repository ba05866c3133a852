"""Your own documents: read, cut into chunks, and kept in collections searched by their meaning."""

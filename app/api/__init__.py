"""The corridor web service: OGC API Features, vector tiles, analysis endpoints and maps over the core library."""

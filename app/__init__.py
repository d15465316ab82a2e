"""corridor: zone catalog of China's science-and-innovation corridors, from 四至 text to polygons and services."""

__version__ = "0.1.0"

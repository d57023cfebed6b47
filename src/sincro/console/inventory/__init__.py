"""Console pages for stock: SKUs, locations and the live change feed."""

"""Getting a model's weights: the registry entry, where its checkpoint is (a folder, a package, the Hub, a delta
applied to its base), loading it, and where it is placed."""

"""One module per source family; every `Connector` subclass defined here is registered by its `name`."""

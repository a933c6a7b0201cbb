"""The registry: lists of processors, their versions, changes and notices."""

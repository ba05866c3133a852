"""Long work: background threads seen as events, and the queue that runs heavy jobs in turn."""

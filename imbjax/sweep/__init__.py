"""The sweep: grid expansion, the sharded runner, the results store, progress."""

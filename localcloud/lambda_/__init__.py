"""Lambda: the runtime (worker processes in a sandbox), the Invoke API, aliases, payload limits,
environment keys, and the fixes to moto's Lambda."""

"""Settlement's rules as plain code: batching, fee bumps, reading a sweep's receipt."""

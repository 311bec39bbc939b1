"""The command line: config fields as absl flags, one-line errors, script commands."""

"""casework command line: wires features, training and serving; holds no domain logic."""

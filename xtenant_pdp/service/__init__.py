"""The gRPC edge: the only package besides cli.py that imports grpc."""

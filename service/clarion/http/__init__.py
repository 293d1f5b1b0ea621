"""The HTTP edge: the Litestar app, its controllers, authentication, body decoding, pagination."""

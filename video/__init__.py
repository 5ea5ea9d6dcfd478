"""Vigía video server: stands in for IP cameras by serving RTSP streams."""

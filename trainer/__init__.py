"""Vigía trainer: learns n classes by transfer learning and pushes signed int8 models."""

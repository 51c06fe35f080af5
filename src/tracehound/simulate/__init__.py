"""Simulators of realistic environments with planted attacks and ground-truth labels."""

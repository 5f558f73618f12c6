"""Orchestration: partitions, resources, assets and checks, jobs and schedules (thin wiring)."""

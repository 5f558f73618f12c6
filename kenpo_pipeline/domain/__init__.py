"""Domain logic: plain functions over files and DataFrames, testable without Dagster or a database."""

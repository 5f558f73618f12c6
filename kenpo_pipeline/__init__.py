"""kenpo-pipeline: KPI monitoring and PDCA evaluation for 協会けんぽ.

Layers (see README "Where things are"):
- ``kenpo_pipeline.domain``    plain functions over files and DataFrames (no Dagster, no database)
- ``kenpo_pipeline.warehouse`` SQLAlchemy tables and transactional loading
- ``kenpo_pipeline.defs``      the Dagster code location (thin wiring)
- ``kenpo_pipeline.cli``       the ``kenpo`` command line
"""

__version__ = "0.1.0"

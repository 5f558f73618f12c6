import sys

from kenpo_pipeline.cli import main

sys.exit(main())

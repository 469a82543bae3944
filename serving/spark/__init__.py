"""casework on Apache Spark: score any Parquet frame and run design draws as Spark tasks.

Optional: needs the ``spark`` extra (``pip install 'casework[spark]'``) and Java 17+. Nothing
else in casework imports this package, so the rest runs without either.
"""

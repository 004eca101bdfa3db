"""dianyan (电眼): stream-processing anomaly detection for utility readings.

This package is the wiring: config loading, the embedded pipeline, the Faust app,
Prometheus metrics and the ``dianyan`` command line. The work is done by the
``ingest``, ``detectors`` and ``alerts`` packages.
"""

__version__ = "0.1.0"

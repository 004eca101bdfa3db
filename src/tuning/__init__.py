"""Threshold tuning for the tech office (持续调整预警阈值).

``dianyan backtest`` replays history under a candidate thresholds file and the live one in
one pass and compares them, using the inspectors' verification outcomes from the alert
store; ``dianyan tune`` sweeps one parameter of one rule for a region and proposes the
least strict value that meets a precision (and recall) target. Both run the embedded
pipeline (:mod:`dianyan.pipeline`), the same detector code as streaming.
"""

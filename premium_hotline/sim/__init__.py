"""The traffic simulator behind `premium-hotline simulate` (needs the `sim` extra: simpy).

traffic: scenarios and the calls they generate; engine: one day of the queue on simpy with the
real decision core in the loop; report: policies compared in one table; replay: a scenario as
a schedule for the sandbox demo.
"""

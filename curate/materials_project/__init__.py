"""Materials Project -> dataset: search with mp-api's ``MPRester``, ionic steps from MP's Delta Lake tables.

Modules follow the data flow: :mod:`.client` (the official client, key handling, retries), :mod:`.selection`
(which tasks of which materials), :mod:`.trajectories` (per-step frames from a Delta table), :mod:`.frames`
(the frame policy), :mod:`.checkpoint` (resume state) and :mod:`.pull` (the whole pull).
"""

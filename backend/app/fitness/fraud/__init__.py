"""The anti-cheat model: catches plausible-looking fraud the rules (fitness/anticheat.py) cannot, and flags it
for a coach's review; it never refuses a workout.

- features.py: a workout and the member's recent accepted workouts -> named features;
- simulator.py, dataset.py: seeded honest members and fraud patterns, through the rules and the features;
- model.py, evaluate.py, ensemble.py: training, held-out metrics beside the rules, the flat ensemble scored;
- versions.py, scoring.py: versions in PostgreSQL, scoring in the transaction that stores a workout;
- reviews.py, routes.py: the coaches' review; training.py, __main__.py: retraining (weekly job, CLI).
"""

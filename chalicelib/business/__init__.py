"""Business job types built on the jobs package; each module registers its handlers."""

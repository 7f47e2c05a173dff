"""The reward token's unit: FitToken has 18 decimals, so one FIT is 10**18 of its smallest unit (wei)."""

FIT = 10**18

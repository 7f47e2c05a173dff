"""Gasless claims and purchases: the platform sends members' voucher claims and purchase intents for them."""

"""Money: contribution rates, amounts due, payments and arrears (Decimal end to end)."""

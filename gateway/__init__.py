"""The turn pipeline, transport-agnostic: stages, providers, pricing and the provider simulator."""

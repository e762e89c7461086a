"""The DFT bridge: write inputs for the structures worth a calculation, or label them with a calculator."""

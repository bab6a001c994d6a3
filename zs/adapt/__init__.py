"""Head refits: seen-only, projection, PADing classifier, V2C, CPA; calibration."""

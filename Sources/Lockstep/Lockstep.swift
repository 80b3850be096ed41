// Placeholder until the coordinator lands.

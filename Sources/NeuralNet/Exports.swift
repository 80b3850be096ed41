// Layers, initialisers and dropout take a `SeededRNG`; re-exporting its module lets a
// user of NeuralNet write `SeededRNG(seed:)` without a second import.
@_exported import Randomness

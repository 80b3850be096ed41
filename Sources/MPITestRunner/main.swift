print("mpi tests: under construction")

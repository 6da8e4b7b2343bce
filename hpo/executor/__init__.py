"""Where jobs run: the worker (`worker.train_job`, plain data in and out), the driver-side
bookkeeping of a method's trial runs (`trials`), and the drivers the search loop hands jobs to
(`drivers`: in this process; `simulated`: on a simulated clock, for tests and benchmarks).
Import the module you need: only the worker and the in-process driver load Keras."""

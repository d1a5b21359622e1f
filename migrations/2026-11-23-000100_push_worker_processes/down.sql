DROP TABLE push_worker_processes;

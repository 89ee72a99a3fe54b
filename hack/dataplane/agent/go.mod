module tenant-isolation-operator.local/dataplane-agent

go 1.26

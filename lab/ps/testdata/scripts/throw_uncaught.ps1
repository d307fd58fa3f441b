'start'
throw 'dnscmd failed with exit code 9711'

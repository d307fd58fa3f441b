New-Thing -Nam x
New-Thing -Bogus 1
New-Thing x -Count abc
New-Thing
New-Thing x 1 extra
New-Thing -Name
New-Thing -Name ''
New-Thing x -Enabled 'yes'
Get-NlbCluster | Set-NlbCluster -OperationMode Broadcast
Get-NlbCluster | Set-NlbCluster -OperationMode multicast -IP 10.0.0.50 -Port 80 -WhatIf
Get-NlbCluster | Set-NlbCluster -Operation Unicast -Confirm:$false
New-Thing -WhatIf
New-Thing E14-DAG 2 -Tags a,b -Enabled:$true -ErrorAction Stop -Verbose:$false
New-Thing -ErrorAction Sometimes
'done'

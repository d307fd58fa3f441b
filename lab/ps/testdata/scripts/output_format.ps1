'plain string'
42
$true
Get-NlbCluster
Get-MailboxDatabaseCopyStatus
Write-Host 'host line'
Get-DatabaseAvailabilityGroup
Write-Host 'no newline: ' -NoNewline
Write-Host 'then this'
@{ Name = 'x'; Value = 1 }
'a', 'b' | ConvertTo-Csv
Get-MailboxDatabaseCopyStatus | Select-Object Name, Status | ConvertTo-Csv
Get-NlbCluster | Select-Object -ExpandProperty Name
Get-MailboxDatabaseCopyStatus | Select-Object -First 1 -Property Name, @{N='Q'; E={$_.CopyQueueLength + 1}}, Missing | ConvertTo-Csv -NoTypeInformation
Get-MailboxDatabaseCopyStatus | Select-Object * -Last 1 | Out-String
Start-Sleep -Seconds 2
Start-Sleep -ms 250
(Get-Date -Format 'yyyy-MM-dd HH:mm')

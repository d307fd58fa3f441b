$ErrorActionPreference = 'Stop'
try {
    . (Join-Path $env:ExchangeInstallPath 'bin\RemoteExchange.ps1')
    Connect-ExchangeServer -auto
    'exchops:section copystatus'
    Get-MailboxDatabaseCopyStatus -Identity 'MB01' | Select-Object @{Name='Name';Expression={[string]$_.Name}}, @{Name='Status';Expression={[string]$_.Status}}, @{Name='CopyQueueLength';Expression={[int]$_.CopyQueueLength}} | ConvertTo-Csv -NoTypeInformation
    'exchops:section dag'
    Get-DatabaseAvailabilityGroup -Identity 'E14-DAG' -Status | Select-Object @{Name='Servers';Expression={($_.Servers | ForEach-Object { [string]$_ }) -join ';'}} | ConvertTo-Csv -NoTypeInformation
} catch {
    [Console]::Error.WriteLine($_.Exception.Message)
    exit 1
}

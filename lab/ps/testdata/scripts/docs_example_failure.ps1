$ErrorActionPreference = 'Stop'
try {
    . (Join-Path $env:ExchangeInstallPath 'bin\RemoteExchange.ps1')
    Connect-ExchangeServer -auto
    'exchops:section copystatus'
    Get-MailboxDatabaseCopyStatus -Identity 'MB09' | Select-Object Name | ConvertTo-Csv -NoTypeInformation
    'never printed'
} catch {
    [Console]::Error.WriteLine($_.Exception.Message)
    [Console]::Error.WriteLine($_.FullyQualifiedErrorId)
    [Console]::Error.WriteLine([string]$_.CategoryInfo)
    exit 1
}

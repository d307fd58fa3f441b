Write-Error 'first problem'
Get-MailboxDatabaseCopyStatus MB07
'still running'
Get-MailboxDatabaseCopyStatus MB07 -ErrorAction SilentlyContinue
"errors so far: $($Error.Count)"
try {
    Get-MailboxDatabaseCopyStatus MB07 -ErrorAction Stop
} catch {
    "caught: $($_.Exception.Message)"
} finally {
    'finally runs'
}
Write-Warning 'disk almost full'
Write-Verbose 'hidden'
Write-Verbose 'shown' -Verbose
Connect-ExchangeServer -Auto -Verbose
$VerbosePreference = 'Continue'
Write-Verbose 'now shown'
Get-MailboxDatabaseCopyStatus MB07 -ErrorAction Stop
'not reached'

'before'
Get-Foo -Name x
'after: statement-terminating errors do not stop the script'
$ErrorActionPreference = 'Stop'
Get-Bar
'not reached'

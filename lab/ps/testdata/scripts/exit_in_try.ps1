try {
    'in try'
    exit 3
} finally {
    'finally before exit'
}
'not reached'
